from proxy.main import main

main()
