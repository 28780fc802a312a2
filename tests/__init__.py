# Lightning loaded as the commands load it (gan_lightning/plumbing/startup.py): each test process
# imports it, and this package runs before its conftest and its test files.
from gan_lightning.plumbing.startup import load_heavy

load_heavy()
