"""The search page: static HTML/JS/CSS served by the app itself, no build step."""
