"""The agent loop (agent_loop.py) in OpenAI's Chat Completions format, offline.

With a real model, pass ``model``::

    client = openai.OpenAI()

    def model(*, messages, tools):
        return client.chat.completions.create(model="gpt-4.1", messages=messages, tools=tools).model_dump()

    main(openai_chat, model)
"""

from agent_loop import main

from runtime.llm.providers import openai_chat

main(openai_chat)
