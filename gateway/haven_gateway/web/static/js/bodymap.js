// The body map: front and back outlines (drawn here, from simple shapes), numbered marks.
// A click or tap on an outline adds a mark; so does choosing a side and a place from the
// lists, for keyboard and screen-reader users. x and y are fractions of the outline's box.

import { el, svg } from "./ui.js";

const WIDTH = 200;
const HEIGHT = 440;

// One half of the figure, on the viewer's left; the other half is its mirror image.
const HALF = [
  ["path", { d: "M62 86 L44 96 L28 200 L20 268 L34 270 L44 206 L58 128 Z" }], // arm
  ["ellipse", { cx: 26, cy: 284, rx: 9, ry: 15 }], // hand
  ["path", { d: "M60 208 L56 300 L62 404 L90 404 L94 300 L99 222 Z" }], // leg
  ["ellipse", { cx: 74, cy: 418, rx: 18, ry: 10 }], // foot
];

// Places a keyboard user can choose, as (x, y) on the front outline, viewer's left first.
// On the front the pupil's right side is on the viewer's left; on the back it is the other way.
const PLACES = [
  ["head", 100, 40],
  ["neck", 100, 76],
  ["chest", 100, 112],
  ["abdomen", 100, 170],
  ["hips", 100, 208],
  ["right shoulder", 64, 92],
  ["left shoulder", 136, 92],
  ["right upper arm", 46, 140],
  ["left upper arm", 154, 140],
  ["right forearm", 34, 220],
  ["left forearm", 166, 220],
  ["right hand", 26, 284],
  ["left hand", 174, 284],
  ["right thigh", 78, 258],
  ["left thigh", 122, 258],
  ["right knee", 76, 318],
  ["left knee", 124, 318],
  ["right lower leg", 76, 366],
  ["left lower leg", 124, 366],
  ["right foot", 74, 418],
  ["left foot", 126, 418],
];
const BACK_NAMES = { head: "back of head", chest: "upper back", abdomen: "lower back", hips: "buttocks" };

function placeName(name, side) {
  return side === "back" ? BACK_NAMES[name] || name : name;
}

// Where a named place is on a side's outline (the back is seen from behind: mirrored).
function placePoint(name, side) {
  const [, x, y] = PLACES.find(([n]) => n === name);
  return { x: side === "back" ? WIDTH - x : x, y };
}

export function nearestPlace(side, x, y) {
  let best = null;
  let bestDistance = Infinity;
  for (const [name] of PLACES) {
    const point = placePoint(name, side);
    const distance = (point.x - x * WIDTH) ** 2 + (point.y - y * HEIGHT) ** 2;
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return placeName(best, side);
}

function outline(side) {
  const shapes = [
    svg("ellipse", { cx: 100, cy: 40, rx: 24, ry: 30 }),
    svg("rect", { x: 90, y: 66, width: 20, height: 20, rx: 4 }),
    svg("path", { d: "M62 84 Q100 76 138 84 L146 104 L140 210 Q100 224 60 210 L54 104 Z" }),
  ];
  for (const [tag, attributes] of HALF) {
    shapes.push(svg(tag, attributes));
    shapes.push(svg(tag, { ...attributes, transform: `translate(${WIDTH} 0) scale(-1 1)` }));
  }
  const group = svg("g", { class: "outline" }, shapes);
  if (side === "back") group.append(svg("path", { d: "M100 84 L100 206", class: "cursor" }));
  else group.append(svg("path", { d: "M90 50 Q100 58 110 50", fill: "none", stroke: "#1b1b1f", "stroke-width": 2 }));
  return group;
}

function figure(side, label) {
  const drawing = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, "data-side": side, role: "img", "aria-label": label },
    outline(side),
    svg("g", { class: "marks-layer" }),
  );
  const caption = el("p", { class: "label", text: side === "front" ? "Front" : "Back", "aria-hidden": "true" });
  return el("div", { class: "figure" }, drawing, caption);
}

function drawMarks(figures, marks) {
  for (const drawing of figures) {
    const layer = drawing.querySelector(".marks-layer");
    const side = drawing.dataset.side;
    layer.replaceChildren(
      ...marks
        .map((mark, index) => ({ mark, number: index + 1 }))
        .filter(({ mark }) => mark.side === side)
        .map(({ mark, number }) =>
          svg(
            "g",
            { class: "mark", "aria-hidden": "true" },
            svg("circle", { cx: mark.x * WIDTH, cy: mark.y * HEIGHT, r: 9 }),
            svg("text", { x: mark.x * WIDTH, y: mark.y * HEIGHT, text: String(mark.number ?? number) }),
          ),
        ),
    );
  }
}

// A body map to mark on (the Add Incident form). Returns {marks()} for the submit.
export function editableBodyMap(container, { onChange = () => {} } = {}) {
  const marks = [];
  const front = figure("front", "Front outline: click or tap where the mark is");
  const back = figure("back", "Back outline: click or tap where the mark is");
  const drawings = [front.firstChild, back.firstChild];
  const list = el("ol", { class: "marks", id: "marks", "aria-label": "Marks" });

  const sideSelect = el(
    "select",
    { id: "mark-side" },
    el("option", { value: "front", text: "Front" }),
    el("option", { value: "back", text: "Back" }),
  );
  const placeSelect = el("select", { id: "mark-place" });
  const fillPlaces = () =>
    placeSelect.replaceChildren(
      ...PLACES.map(([name]) => el("option", { value: name, text: placeName(name, sideSelect.value) })),
    );
  sideSelect.addEventListener("change", fillPlaces);
  fillPlaces();
  const stack = new Map();
  const addByKeyboard = el("button", {
    type: "button",
    class: "secondary",
    id: "add-mark",
    text: "Add mark",
    onclick: () => {
      const side = sideSelect.value;
      const name = placeSelect.value;
      const point = placePoint(name, side);
      // Several marks at one place: step each a little aside, so every number shows.
      const key = `${side}:${name}`;
      const count = stack.get(key) || 0;
      stack.set(key, count + 1);
      add(side, (point.x + count * 8) / WIDTH, (point.y + count * 8) / HEIGHT, placeName(name, side));
    },
  });
  const keyboard = el(
    "fieldset",
    { class: "keyboard-marks" },
    el("legend", { text: "Add a mark without pointing" }),
    el("div", { class: "filters" },
      el("div", { class: "field" }, el("label", { for: "mark-side", text: "Side" }), sideSelect),
      el("div", { class: "field" }, el("label", { for: "mark-place", text: "Place" }), placeSelect),
      addByKeyboard,
    ),
  );

  function add(side, x, y, place) {
    const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 10000) / 10000));
    marks.push({ side, x: clamp(x), y: clamp(y), note: "", place: place || nearestPlace(side, x, y) });
    render();
    const note = list.lastElementChild && list.lastElementChild.querySelector("input");
    const status = document.getElementById("marks-status");
    if (status) status.textContent = `Mark ${marks.length} added: ${side}, ${marks.at(-1).place}.`;
    return note;
  }

  function render() {
    drawMarks(drawings, marks);
    list.replaceChildren(
      ...marks.map((mark, index) => {
        const number = index + 1;
        const noteId = `mark-note-${number}`;
        const note = el("input", { type: "text", id: noteId, maxlength: 1000, value: mark.note, "data-mark": number });
        note.addEventListener("input", () => {
          mark.note = note.value;
          onChange();
        });
        return el(
          "li",
          { "data-mark": number },
          el("label", { for: noteId, text: `Mark ${number} (${mark.side}, ${mark.place}): note` }),
          note,
          el("button", {
            type: "button",
            class: "secondary",
            text: "Remove",
            "aria-label": `Remove mark ${number}`,
            onclick: () => {
              marks.splice(index, 1);
              render();
              const status = document.getElementById("marks-status");
              if (status) status.textContent = `Mark ${number} removed. The marks after it are renumbered.`;
            },
          }),
        );
      }),
    );
    onChange();
  }

  for (const drawing of drawings) {
    drawing.addEventListener("click", (event) => {
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(drawing.getScreenCTM().inverse());
      add(drawing.dataset.side, point.x / WIDTH, point.y / HEIGHT);
    });
  }

  container.replaceChildren(
    el("div", { class: "figures" }, front, back),
    keyboard,
    el("p", { class: "visually-hidden", id: "marks-status", role: "status" }),
    list,
  );
  return { marks: () => marks.map(({ side, x, y, note }) => ({ side, x, y, note })) };
}

// A body map to read (an incident's page): the marks with their numbers and notes.
export function readOnlyBodyMap(container, marks) {
  const front = figure("front", "Front outline with the numbered marks listed below");
  const back = figure("back", "Back outline with the numbered marks listed below");
  drawMarks([front.firstChild, back.firstChild], marks);
  for (const drawing of [front.firstChild, back.firstChild]) drawing.classList.add("read-only");
  const list = el(
    "ol",
    { class: "marks" },
    marks.map((mark) =>
      el(
        "li",
        { value: mark.number },
        `Mark ${mark.number} (${mark.side}, ${nearestPlace(mark.side, mark.x, mark.y)})`,
        mark.note ? `: ${mark.note}` : "",
      ),
    ),
  );
  container.replaceChildren(el("div", { class: "figures" }, front, back), list);
}
