"""One module per tab of the web playground (see `llm_playground.ui.app.TABS`)."""
