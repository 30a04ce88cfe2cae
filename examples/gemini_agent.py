"""The agent loop (agent_loop.py) in Google Gemini's generateContent format, offline.

With a real model, pass ``model`` (the history goes in ``contents``)::

    client = genai.Client()

    def model(*, messages, tools):
        return client.models.generate_content(
            model="gemini-2.5-flash", contents=messages, config={"tools": tools}
        ).model_dump(mode="json")

    main(gemini, model)
"""

from agent_loop import main

from runtime.llm.providers import gemini

main(gemini)
