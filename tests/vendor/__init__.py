"""Test suites of other projects, vendored with their licenses, run against cachectl."""
