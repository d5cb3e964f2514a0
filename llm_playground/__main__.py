from llm_playground.cli import main
import sys
sys.exit(main())
