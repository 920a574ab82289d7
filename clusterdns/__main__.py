from clusterdns.main import main

main()
