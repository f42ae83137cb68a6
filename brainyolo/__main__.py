from brainyolo.cli import main

raise SystemExit(main())
