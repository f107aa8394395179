"""The template test (tests/app/test_your_model.py) as a user meets it: run by pytest against
models that cannot answer, that fail to load, that declare no example. It fails with the reason,
at once, and never skips."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.app_process import REPO


def template_test(module: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/app/test_your_model.py", "-n", "0", "-rA"],
        cwd=REPO,
        env={**os.environ, "TEMPLATE_TEST_MODULE": module, **env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    return done, time.monotonic() - started


def test_a_model_that_cannot_answer_its_example_fails_with_the_answer():
    done, _ = template_test("tests.app.models.fails")
    assert done.returncode == 1, done.stdout[-3000:]
    assert (
        'tests.app.models.fails could not answer "Hi" (its example): 500 {"success": false, '
        '"error": "the model failed on this input' in done.stdout
    )
    assert "RuntimeError: this model cannot answer" in done.stdout  # the server's log


def test_a_failed_load_fails_as_soon_as_readyz_says_so():
    done, seconds = template_test("tests.app.models.loading", LOAD_FAILS="/weights/model.bin")
    assert done.returncode == 1, done.stdout[-3000:]
    assert (
        "tests.app.models.loading failed to load: /readyz answers 503 "
        '{"success": false, "error": "the model failed to load: FileNotFoundError: '
        "/weights/model.bin" in done.stdout
    )
    assert seconds < 60  # the load timeout is 300 s


def test_a_model_without_an_example_is_sent_an_input_made_from_its_schema():
    done, _ = template_test("tests.app.models.floats")  # predict(msg: list[float]), no example
    assert done.returncode == 0, done.stdout[-3000:]
    assert "SKIPPED" not in done.stdout
    assert "PASSED tests/app/test_your_model.py::test_your_model_answers_its_own_example" in (
        done.stdout
    )


def test_a_model_that_takes_any_json_without_an_example_fails_saying_how_to_declare_one():
    done, _ = template_test("tests.app.models.plain")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "SKIPPED" not in done.stdout
    assert (
        "tests.app.models.plain declares no example input, and its input schema {} gives "
        "nothing to make one from: declare an example input in app/model.py: "
        "Field(examples=[...]) on predict's msg" in done.stdout
    )
