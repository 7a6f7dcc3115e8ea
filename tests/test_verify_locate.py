"""Where a runtime failure is reported: decorator wrappers are passed over, a decorated forward is
unwrapped, and the line tracker can watch every line of chosen files (no torch needed here)."""

from __future__ import annotations

import sys
from pathlib import Path

from export_lint.verify.check_export import forward_frame
from export_lint.verify.line_tracker import LineTracker
from export_lint.verify.locate import Frame, culprit
from export_lint.verify.wrappers import is_wrapper_frame

FIXTURES = Path(__file__).parent / "fixtures" / "verify_targets"
WRAPPING = str(FIXTURES / "wrapping.py")


def _line_of(path: str, text: str) -> int:
    return next(number for number, line in enumerate(Path(path).read_text().splitlines(), 1) if text in line)


def test_a_decorators_returned_closure_is_a_wrapper_and_an_ordinary_nested_helper_is_not():
    assert is_wrapper_frame(WRAPPING, _line_of(WRAPPING, "output = func(self"))
    assert is_wrapper_frame(WRAPPING, _line_of(WRAPPING, "kwargs.pop(name"))
    assert not is_wrapper_frame(WRAPPING, _line_of(WRAPPING, "return y + 1"))
    assert not is_wrapper_frame(WRAPPING, _line_of(WRAPPING, "def helper"))


def test_the_culprit_is_the_code_a_wrapper_wraps_never_the_wrapper(tmp_path):
    model = tmp_path / "model.py"
    model.write_text("class M:\n    def forward(self, x):\n        return self.block(x)\n")
    wrapper = Frame(WRAPPING, _line_of(WRAPPING, "output = func(self"), "wrapper")
    outer = Frame(str(model), 3, "forward")
    assert culprit([outer, wrapper]) == outer
    assert culprit([wrapper]) is None
    forward = Frame(str(model), 2, "forward")
    assert culprit([wrapper], wrapped=forward) == forward  # only a wrapper: the forward it wraps


def test_a_decorated_forward_is_reported_in_the_file_that_defines_it():
    sys.path.insert(0, str(FIXTURES))
    try:
        from wrapping import returns_as_is
    finally:
        sys.path.remove(str(FIXTURES))

    class Model:
        @returns_as_is
        def forward(self, x):
            return x

    frame = forward_frame(Model())
    assert frame is not None and frame.path == __file__
    assert "def forward" in Path(__file__).read_text().splitlines()[frame.line - 1]


def test_a_forward_under_a_decorator_spanning_lines_is_reported_at_its_def():
    def documented(**_options):
        return lambda function: function

    class Model:
        @documented(
            intro="""
            several lines
            """
        )
        def forward(self, x):
            return x

    frame = forward_frame(Model())
    assert frame is not None
    assert Path(__file__).read_text().splitlines()[frame.line - 1].strip() == "def forward(self, x):"


def _work(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def test_the_line_tracker_records_every_line_of_the_files_it_is_told_to():
    with LineTracker({}, every_line_of=lambda path: path == __file__) as tracker:
        _work(3)
    ran = tracker.executed[__file__]
    assert {_line_of(__file__, "total = 0"), _line_of(__file__, "total += i")} <= ran
    with LineTracker({}, every_line_of=lambda path: False) as tracker:
        _work(3)
    assert not tracker.executed.get(__file__)
