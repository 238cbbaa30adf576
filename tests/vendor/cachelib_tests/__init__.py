"""cachelib 0.17.0's CommonTests, ClearTests and HasTests mixins (BSD-3-Clause, LICENSE.txt).

Changed from upstream: the mixins import TestData and under_uwsgi from .data (upstream: from
the test directory's conftest, which also starts servers with xprocess).
"""
