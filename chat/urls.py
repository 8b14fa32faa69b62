"""Mount the shared agent routes for this app's agents."""

from agentsite.registry import AgentSpec
from agentsite.web.routes import agent_router
from chat.agents import assistant_agent, chat_agent

CHAT = AgentSpec("chat", chat_agent, description="A conversational agent with memory.")
ASSISTANT = AgentSpec(
    "assistant",
    assistant_agent,
    description="An assistant with time and arithmetic tools and a math-specialist handoff.",
)

chat_router = agent_router(CHAT)
assistant_router = agent_router(ASSISTANT)
