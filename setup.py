"""The package list, which pyproject.toml cannot express: the callcenter packages, plus the top-level
``scripts/`` (the standard script library: scripts, ``prompts/<locale>.yaml``) carried in the wheel as
``callcenter.library``, where an installed callcenter finds it (callcenter/config.py, STANDARD_LIBRARY).
Everything else about the build is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

LIBRARY = ["callcenter.library", "callcenter.library.prompts"]

setup(
    packages=[*find_namespace_packages(include=["callcenter", "callcenter.*"]), *LIBRARY],
    package_dir={"callcenter.library": "scripts"},
)
