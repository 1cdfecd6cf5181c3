"""The benchmarks: scripts that measure speed, memory and accuracy, each run as a module from the
repository root (`python -m benchmarks.NAME --help`), with what they share in `benchmarks.common`.
Their figures, each with its command, date and CPU, are in the docs' benchmark pages."""
