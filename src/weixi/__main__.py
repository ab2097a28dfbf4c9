from weixi.cli import main

main()
