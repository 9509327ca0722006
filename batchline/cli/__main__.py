from batchline.cli import main

main()
