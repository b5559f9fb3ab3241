from .zygote import main

main()
