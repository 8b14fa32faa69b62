from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The conversational agents, "chat" and "assistant"; the site mounts their routes."""

    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agentsite.registry import AgentSpec, register
        from chat.agents import assistant_agent, chat_agent

        register(AgentSpec("chat", chat_agent, description="A conversational agent with memory."))
        register(
            AgentSpec(
                "assistant",
                assistant_agent,
                description=(
                    "An assistant with time and arithmetic tools, email that a person approves "
                    "first, and a math-specialist handoff."
                ),
            )
        )
