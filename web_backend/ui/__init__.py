"""The admin and student pages: plain HTML, CSS and JavaScript under static/, no build step."""
