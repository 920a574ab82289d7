from netagent.main import main

main()
