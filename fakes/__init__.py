"""Local stand-ins for the services Mailroom talks to and cannot reach from a test machine:
Google's OAuth server and its Gmail API, faithful to the published APIs (every JSON body the
Gmail fake answers with is checked against Google's discovery document). The tests and the
benchmarks (bench/) both run them; they are not part of the `mailroom` package."""
