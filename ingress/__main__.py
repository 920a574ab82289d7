from ingress.main import main

main()
