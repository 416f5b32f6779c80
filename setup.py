"""Map the project folders into one ``lexkit.*`` namespace (see DESIGN.md, layout)."""

from setuptools import find_packages, setup

FOLDERS = {"lexkit": "lexkit", "lexkit.vocab": "vocab", "lexkit.transfer": "transfer",
           "lexkit.analysis": "analysis", "lexkit.cli": "cli"}

# subtle: the package list is computed, never hand-written: a missed subpackage still works in an
# editable install and only breaks after a wheel install.
packages = []
for name, folder in FOLDERS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]
package_dir = dict(FOLDERS)
for name in packages:
    if name not in package_dir:
        root = next(n for n in sorted(FOLDERS, key=len, reverse=True) if name.startswith(n + "."))
        package_dir[name] = FOLDERS[root] + "/" + name[len(root) + 1:].replace(".", "/")

setup(packages=packages, package_dir=package_dir, package_data={"lexkit": ["py.typed", "data/*"]})
