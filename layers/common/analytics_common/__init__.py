"""Shared code of the Platform Analytics API Lambda functions (the CommonLayer).

Importing it defers the `__init__` of two Powertools packages that import much more than a function
uses (see analytics_common.imports): every function imports this package before either of them.
"""

from analytics_common.imports import defer_powertools_packages

defer_powertools_packages()
