"""Energy sources: every hardware and OS access of a measurement lives in this package.

``opening.open_sensors`` finds the sources that work on this machine (RAPL, NVML, and the
estimate for what they leave uncovered); one module per source (``rapl``, ``nvml``,
``estimate``), and the machine facts they rely on (``cpu_info``, ``cpu_load``, ``host``,
``nvidia_driver``). Importing the package itself costs nothing: a run's start-up imports
only the modules it uses.
"""
