"""Chunk alignment, chunk sums, the ALM distance, the blockwise log-partition and the row optimizer (no models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lexkit.errors import LexkitError
from lexkit.transfer import _heal_rows
from lexkit.transfer._heal_chunks import align_chunks, binary_cross_entropy, chunk_logprobs, token_ends
from lexkit.transfer._heal_rows import RowAdam, head_log_partition

TEXT = b"the cat sat"
# teacher: "the" " cat" " sat"; student: "th" "e" " c" "at" " sat"
TEACHER = [b"the", b" cat", b" sat"]
STUDENT = [b"th", b"e", b" c", b"at", b" sat"]


def test_token_ends_and_refusal_of_text_the_tokens_do_not_spell():
    assert token_ends([0, 1, 2], TEACHER, TEXT, what="teacher").tolist() == [3, 7, 11]
    with pytest.raises(LexkitError, match="byte for byte"):
        token_ends([0, 1], TEACHER, TEXT, what="teacher")
    with pytest.raises(LexkitError, match="special token"):
        token_ends([0, 3], [*TEACHER, None], TEXT, what="teacher")


def test_chunks_are_spans_between_common_boundaries():
    t_ends = token_ends([0, 1, 2], TEACHER, TEXT, what="teacher")
    s_ends = token_ends(list(range(5)), STUDENT, TEXT, what="student")
    align = align_chunks(t_ends, s_ends, TEXT, teacher_from_start=True, student_from_start=True)
    assert align.chunks == 3
    assert align.teacher.tolist() == [0, 1, 2]
    assert align.student.tolist() == [0, 0, 1, 1, 2]
    # a side without BOS never scores its first token: chunks start after it ("th" for the student)
    late = align_chunks(t_ends, s_ends, TEXT, teacher_from_start=True, student_from_start=False)
    assert late.chunks == 2 and late.teacher.tolist() == [-1, 0, 1] and late.student.tolist() == [-1, -1, 0, 0, 1]
    # "space": only common boundaries followed by whitespace (or the end) cut
    t2 = np.array([3, 4, 7, 11])  # "the" " " "cat" " sat"
    spaced = align_chunks(t2, s_ends, TEXT, teacher_from_start=True, student_from_start=True, boundary="space")
    assert spaced.chunks == 3 and spaced.teacher.tolist() == [0, 1, 1, 2]


def test_chunk_logprobs_sums_per_chunk_and_skips_unowned_tokens():
    values = torch.tensor([-1.0, -2.0, -0.5, -4.0])
    owners = torch.tensor([0, 0, -1, 1])
    assert chunk_logprobs(values, owners, 2).tolist() == [-3.0, -4.0]


def test_binary_cross_entropy_is_smallest_with_zero_gradient_at_the_teacher_value():
    teacher = torch.tensor([-3.0, -0.2, -12.0])
    student = teacher.clone().requires_grad_(True)
    binary_cross_entropy(teacher, student).sum().backward()
    assert student.grad is not None and student.grad.abs().max() < 1e-4
    for shift in (-1.0, 1.0):
        off = binary_cross_entropy(teacher, (teacher + shift).clamp(max=-1e-3))
        assert (off > binary_cross_entropy(teacher, teacher)).all()


def test_head_log_partition_matches_logsumexp_and_its_gradients():
    torch.manual_seed(0)
    hidden = torch.randn(37, 8, requires_grad=True)
    matrix = torch.randn(50, 8)
    bias = torch.randn(50)
    active = torch.tensor([3, 7, 41])
    rows = (matrix[active] + 0.1).requires_grad_(True)
    reference = matrix.clone()
    reference_rows = rows.detach().clone().requires_grad_(True)
    full = torch.cat([reference[:3], reference_rows[:1], reference[4:7], reference_rows[1:2], reference[8:41],
                      reference_rows[2:], reference[42:]])
    hidden_ref = hidden.detach().clone().requires_grad_(True)
    expected = torch.logsumexp(hidden_ref @ full.T + bias, 1)
    old_block = _heal_rows._BLOCK_ELEMENTS
    _heal_rows._BLOCK_ELEMENTS = 50 * 5  # several blocks
    try:
        got = head_log_partition(hidden, matrix, active, rows, bias)
    finally:
        _heal_rows._BLOCK_ELEMENTS = old_block
    torch.testing.assert_close(got, expected)
    weights = torch.randn(37)
    (got * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(rows.grad, reference_rows.grad)
    torch.testing.assert_close(hidden.grad, hidden_ref.grad)


def test_row_adam_moves_only_the_rows_it_is_given_and_round_trips_its_state():
    matrix = torch.randn(10, 4)
    before = matrix.clone()
    trainable = torch.zeros(10, dtype=torch.bool)
    trainable[[2, 5, 7]] = True
    optimizer = RowAdam(matrix, trainable, lr=0.1)
    rows = optimizer.active(torch.tensor([5, 5, 1, 2, 9]))
    assert rows.tolist() == [2, 5]
    optimizer.step(rows, torch.ones(2, 4))
    changed = (matrix != before).any(1)
    assert changed.tolist() == [i in (2, 5) for i in range(10)]
    torch.testing.assert_close(matrix[2], before[2] - 0.1)  # Adam's first step is lr * sign(g)
    state = optimizer.state()
    fresh = RowAdam(before.clone(), trainable, lr=0.1)
    fresh.load_state(state)
    assert torch.equal(fresh.matrix, matrix)
    optimizer.step(rows, torch.full((2, 4), -0.5))
    fresh.step(rows, torch.full((2, 4), -0.5))
    assert torch.equal(fresh.matrix, matrix)
