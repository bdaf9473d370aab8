"""The CI recipes in examples/: valid YAML, and every `advisor ...` command in them parses with the CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from advisor.cli import _parser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
_STOP = {";", "&&", "||", "|", ">", ">>", "<", "&", "then", "fi", "else"}
# Placeholders for CI variables: any value the CLI's parser accepts where they stand.
_VARS = {"TASK": "benchmarks/sms_spam/task.yaml", "RUN_DIR": "runs/ci-1", "GITHUB_STEP_SUMMARY": "summary.md"}


def _shell_lines(workflow: str) -> list[str]:
    data = yaml.safe_load((EXAMPLES / workflow).read_text(encoding="utf-8"))
    if workflow.startswith("github"):
        steps = [s for job in data["jobs"].values() for s in job["steps"]]
        return [line for s in steps if "run" in s for line in s["run"].replace("\\\n", " ").splitlines()]
    jobs = [j for name, j in data.items() if isinstance(j, dict) and "script" in j]
    return [line for j in jobs for key in ("before_script", "script") for line in j.get(key, [])]


def _expand(line: str) -> str:
    line = re.sub(r"\$\{\{[^}]*\}\}", "x", line)  # GitHub expressions
    return re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: _VARS.get(m.group(1), "x"), line)


def advisor_commands(workflow: str) -> list[list[str]]:
    """argv of every `advisor` invocation, cut at the first shell operator."""
    found = []
    for line in _shell_lines(workflow):
        lexer = shlex.shlex(_expand(line), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
        for i, tok in enumerate(tokens):
            if tok == "advisor" and (i == 0 or tokens[i - 1] in _STOP):
                argv = []
                for t in tokens[i + 1:]:
                    if t in _STOP:
                        break
                    argv.append(t)
                found.append(argv)
    return found


@pytest.mark.parametrize("workflow,expected", [("github-actions.yml", {"run", "compare", "report", "history", "models"}),
                                               ("gitlab-ci.yml", {"run", "compare", "report", "history", "models"})])
def test_every_advisor_command_parses(workflow, expected):
    commands = advisor_commands(workflow)
    assert {argv[0] for argv in commands} == expected
    parser = _parser()
    for argv in commands:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse's way of saying the command is wrong
            pytest.fail(f"{workflow}: `advisor {' '.join(argv)}` does not parse (exit {exc.code})")
        task = getattr(args, "task", None)
        if isinstance(task, (str, Path)) and str(task).endswith(".yaml"):
            assert (ROOT / task).is_file(), f"{workflow}: {task} does not exist"
    gate = next(a for a in commands if a[0] == "compare")
    assert "--against" in gate and "--junit" in gate and "--summary" in gate


def test_the_recipes_cache_models_and_history_and_upload_the_report():
    gh = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = gh["jobs"]["advisor"]["steps"]
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert {".advisor-cache", "runs"} <= set(cache["with"]["path"].split())
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "report.html" in upload["with"]["path"]
    assert any("GITHUB_STEP_SUMMARY" in s.get("run", "") for s in steps)
    assert gh["jobs"]["advisor"]["env"]["ADVISOR_CACHE_DIR"].endswith(".advisor-cache")
    gl = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["advisor"]
    assert {".advisor-cache/", "runs/"} <= set(gl["cache"]["paths"])
    assert any(p.endswith("report.html") for p in gl["artifacts"]["paths"]) and gl["artifacts"]["reports"]["junit"]


def test_a_wrong_command_would_be_caught():
    parser = _parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["compare", "runs/x", "--againts", "last"])
    assert advisor_commands("github-actions.yml")  # the extraction finds commands at all
