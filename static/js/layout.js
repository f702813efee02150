// Layout helpers for every panel page (CSP: a static file, no inline script).
// 1. The navigation's "Menu" button on narrow screens (CSS decides when it shows). Without this
//    script the button stays hidden and the menu wraps below the brand, so nothing is lost.
// 2. A table wider than the screen scrolls inside its own box; the box that scrolls is made
//    focusable, so keyboard users can scroll it too.
(function () {
  "use strict";

  function setUpMenu() {
    var nav = document.querySelector(".site-nav");
    var button = nav && nav.querySelector(".nav-toggle");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!menu) {
      return;
    }
    nav.classList.add("is-collapsible");
    button.hidden = false;
    function show(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }
    button.addEventListener("click", function () {
      show(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.classList.contains("is-open")) {
        show(false);
        button.focus();
      }
    });
  }

  function markScrollBoxes() {
    var boxes = document.querySelectorAll("main table, main .table-scroll, main .overflow-auto");
    Array.prototype.forEach.call(boxes, function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-box", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-box")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-box");
      }
    });
  }

  setUpMenu();
  markScrollBoxes();
  var pending = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(pending);
    pending = window.setTimeout(markScrollBoxes, 100);
  });
  // Content swapped in by htmx (rule rows, the preview, progress) may bring wide tables.
  document.body.addEventListener("htmx:afterSettle", markScrollBoxes);
})();
