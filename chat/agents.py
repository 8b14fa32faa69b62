"""The conversational agents: "chat" and "assistant" (with tools and a specialist handoff)."""

from __future__ import annotations

from agents import Agent

from chat.tools import calculate, current_time, send_email

chat_agent: Agent = Agent(
    name="Chat",
    instructions=(
        "You are a friendly, concise conversational assistant. Remember what the user told you "
        "earlier in the conversation and use it in your answers."
    ),
)

math_specialist: Agent = Agent(
    name="Math Specialist",
    handoff_description="Solves arithmetic and explains the steps of a calculation.",
    instructions=(
        "You are a math specialist. Use the calculate tool for every computation, then explain "
        "the result in one or two sentences."
    ),
    tools=[calculate],
)

assistant_agent: Agent = Agent(
    name="Assistant",
    instructions=(
        "You are a helpful assistant. Use current_time for questions about the date or time "
        "somewhere, calculate for arithmetic, send_email when the user asks you to email "
        "someone (a person approves each message first; if they reject it, say so and why), "
        "and hand off to the Math Specialist when the user wants a calculation explained step "
        "by step."
    ),
    tools=[current_time, calculate, send_email],
    handoffs=[math_specialist],
)
