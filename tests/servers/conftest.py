"""Imports that must happen before any test module's, in this order.

streamsim first: it sets the environment Ray reads when Ray is imported (without it a Ray
driver swaps 127.0.0.1 for the machine's outside address), and the test modules import
ray before streamsim in sorted order. Then kafka-python, whose import calls a deprecated
importlib function: warnings are errors in the tests, and that warning is its own (this
goes away once kafka-python stops calling importlib.resources.open_text).
"""

import warnings

import streamsim  # noqa: F401  (before ray, see above)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401
