"""agentsite: OpenAI Agents SDK agents served by Django over REST, SSE and WebSockets."""
