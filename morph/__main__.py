from morph.cli import main

main()
