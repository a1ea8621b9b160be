"""Errors from reading Terraform outputs are short and say what to run."""

from __future__ import annotations

from grocery_forecast.cli.stack import _terraform_error

STDERR = """\u2577
\u2502 Warning: Unable to open CLI configuration file
\u2502
\u2502 The CLI configuration file at "/root/.terraformrc" does not exist.
\u2575

\u2577
\u2502 Error: Backend initialization required, please run "terraform init"
\u2502
\u2502 Reason: Initial configuration of the requested backend "s3"
\u2575
"""


def test_the_first_terraform_error_is_kept_and_the_warnings_and_boxes_dropped() -> None:
    assert _terraform_error(STDERR) == 'Backend initialization required, please run "terraform init"'


def test_output_without_an_error_line_is_passed_on_briefly() -> None:
    assert _terraform_error("something odd\n") == "something odd"
    assert _terraform_error("") == "terraform failed"
