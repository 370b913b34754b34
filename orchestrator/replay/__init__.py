"""`agentos replay`: a repository's real history replayed through the whole loop on the sandbox forge."""
