from gan_lightning.sweep.summary import main

main()
