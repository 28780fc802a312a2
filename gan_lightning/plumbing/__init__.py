"""What every part leans on and no GAN idea lives in: failures as one line (``errors``), where a
run lives (``paths``), atomic checkpoint writes (``checkpoint_io``), the loggers' images and a
CSV logger that goes on across resumes (``loggers``), a run's scalars read back (``scalars``),
Lightning's console noise left out (``console``), Lightning loaded for a quick start-up
(``startup``) and each private Lightning API we use (``private_api``). It imports nothing
else of the package."""
