# Lightning loaded as the commands load it (gan_lightning/plumbing/startup.py): each test process
# imports it, and this package runs before its conftest and its test files. The process is the
# suite's own, as a command's is.
from gan_lightning.plumbing.startup import load_heavy, mark_command

mark_command()
load_heavy()
