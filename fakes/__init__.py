"""Local stand-ins for the services Mailroom talks to and cannot reach from a test machine,
faithful to the published APIs: Google's OAuth server and its Gmail API (every JSON body the
Gmail fake answers with is checked against Google's discovery document), and Microsoft's
identity platform and Graph mail. Each runs on `server.LocalServer`. The tests and the
benchmarks (bench/) both run them; they are not part of the `mailroom` package."""
