"""canary-console: take a release from 0% to 100% of traffic as a canary, safely."""

__version__ = "0.1.0"
