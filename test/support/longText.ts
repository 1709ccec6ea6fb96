// A text of about 500 tokens in the Llama 3 and Qwen vocabularies (the test models' window is
// 512): long enough for float32 rounding to grow past what ~64-token texts show.
export const LONG_TEXT = [
  'The old lighthouse keeper climbed the spiral stairs every evening, counting one hundred and twelve steps.',
  'From the lamp room he could see the harbour, the fishing boats returning, and the storm clouds gathering over the hills.',
  'He kept a logbook bound in green leather, and in it he wrote the weather, the ships that passed, and the small events of the day:',
  'a gull with a broken wing, a letter from his sister in Lisbon, the price of paraffin, which had risen twice since the spring.',
  'On clear nights the beam reached twenty-two nautical miles; in fog it seemed to stop at the end of the jetty, swallowed whole.',
  'The village below had a bakery, two churches, a school with forty-one pupils, and a harbour master who never wore a hat.',
  'Every Thursday a boy rowed out with bread, candles and newspapers, and stayed for tea if the sea allowed it.',
  'They talked about football, about the war his grandfather had fought in, and about the wrecks that lay beneath the bay,',
  'among them a schooner that had carried oranges from Valencia and sank in the winter of 1887 with all nine of her crew.',
  'The keeper had learned to mend the clockwork that turned the lens, to polish the brass until it shone like a second lamp,',
  'and to sleep in short pieces, three hours at a time, waking before the flame could smoke the glass.',
  'When the new electric light was installed, engineers came from the city with crates of cable and instruments he did not trust.',
  'They told him the tower would soon run itself, that a switch in an office forty miles away would do what he had done for thirty years.',
  'He listened politely, offered them soup, and wrote in the logbook that the wind was from the north-west, force six, rising.',
  'That winter the cable failed in the first great storm, and for three nights the old lamp burned again, trimmed by hand,',
  'while the boats came home one by one, guided by a light that nobody in the office knew was shining.',
  'In the spring the engineers returned, replaced the cable, and left him a radio so that he could report any fault at once.',
  'Years later, when the tower was finally automated, he moved into a cottage by the school and taught the children knots,',
  'how to read a tide table, and why a light that blinks twice every ten seconds is not the same as one that blinks three times.',
].join(' ');
