"""Local stand-ins for the services Mailroom talks to and cannot reach from a test machine,
faithful to the published APIs: Google's OAuth server, its Gmail API and Google Calendar (every
JSON body those two answer with is checked against Google's discovery documents), and Microsoft's
identity platform and Graph mail. Each runs on `server.LocalServer`. The tests and the
benchmarks (bench/) both run them; they are not part of the `mailroom` package."""
