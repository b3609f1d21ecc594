"""Run the `interactions` command from a checkout: python cli.py check baclofen alcohol."""

from interactions.entry import main

if __name__ == "__main__":
    main()
