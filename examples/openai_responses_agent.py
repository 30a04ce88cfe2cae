"""The agent loop (agent_loop.py) in OpenAI's Responses format, offline.

With a real model, pass ``model`` (the history goes in ``input``)::

    client = openai.OpenAI()

    def model(*, messages, tools):
        return client.responses.create(model="gpt-4.1", input=messages, tools=tools).model_dump()

    main(openai_responses, model)
"""

from agent_loop import main

from runtime.llm.providers import openai_responses

main(openai_responses)
