from gan_lightning.bench.cli import main

main()
