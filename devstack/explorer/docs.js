// openapi.yaml in Swagger UI; "Try it out" calls the local API (another origin) with the demo token.
"use strict";

(async () => {
  const config = await (await fetch("/config.json")).json();
  const ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    onComplete: () => {
      ui.preauthorizeApiKey("bearerAuth", config.token);
      document.body.dataset.state = "ready";
    },
  });
  window.ui = ui;
})();
