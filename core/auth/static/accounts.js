// Show only the tenant field that fits the chosen role: a municipality for the municipal roles,
// an office for the office roles, none for a system admin. Without this script both fields
// show, and the server takes only the one that fits the role.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const role = document.getElementById("role");
  if (!role) {
    return;
  }
  const update = () => {
    const binding = role.selectedOptions[0]?.dataset.binding ?? "";
    for (const field of document.querySelectorAll("[data-tenant]")) {
      field.hidden = field.dataset.tenant !== binding;
    }
  };
  role.addEventListener("change", update);
  update();
});
