from gan_lightning.sweep.results import main

main()
