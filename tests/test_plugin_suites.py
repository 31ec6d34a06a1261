"""The plugin packages' own test suites, run against the pip-installed packages.

One fresh ``pytest`` process runs all five suites, one after another (it
imports TensorFlow once); each package's test here checks its share of the
JUnit report: every test of the suite ran and passed, none was skipped.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, cli_env

#: Each package and the number of tests its suite holds (vision and tabular have one
#: conformance test per component: a new component adds one).
SUITES = {"kerakit-optuna": 16, "kerakit-mlflow": 10, "kerakit-vision": 10, "kerakit-tabular": 11,
          "kerakit-wandb": 5}


@pytest.fixture(scope="module")
def report(plugin_site: Path, tmp_path_factory: pytest.TempPathFactory) -> ET.Element:
    junit = tmp_path_factory.mktemp("plugin_suites") / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         *(str(ROOT / "plugins" / name / "tests") for name in SUITES)],
        env=cli_env(plugin_site), capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert junit.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return ET.parse(junit).getroot()


@pytest.mark.parametrize("package", SUITES)
def test_the_plugin_package_passes_its_own_tests(report: ET.Element, package: str):
    cases = [case for case in report.iter("testcase")
             if case.get("file", case.get("classname", "")).replace(".", "/").startswith(
                 f"plugins/{package}/tests")]
    assert len(cases) == SUITES[package], [c.get("name") for c in cases]
    for case in cases:
        problems = [child for child in case if child.tag in ("failure", "error", "skipped")]
        assert not problems, f"{case.get('name')}: {problems[0].get('message')}\n" \
                             f"{(problems[0].text or '')[-3000:]}"
