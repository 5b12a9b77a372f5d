from casenotes.cli import main

raise SystemExit(main())
